package rt

import (
	"slices"
	"strings"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    Policy
		wantErr bool
	}{
		{"fifo", FIFO, false},
		{"FIFO", FIFO, false},
		{"rr", RR, false},
		{"other", Other, false},
		{"normal", Other, false},
		{" fifo ", FIFO, false},
		{"deadline", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := ParsePolicy(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err == nil && got.String() != strings.ToLower(strings.TrimSpace(tt.in)) && tt.in != "normal" {
			t.Errorf("ParsePolicy(%q).String() = %q", tt.in, got.String())
		}
	}
	if s := Policy(9).String(); s != "policy(9)" {
		t.Errorf("Policy(9).String() = %q", s)
	}
}

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		format  string
		wantErr string
	}{
		{"", nil, "", ""},
		{"0", []int{0}, "0", ""},
		{"0,2-3", []int{0, 2, 3}, "0,2-3", ""},
		{"3,1,2", []int{1, 2, 3}, "1-3", ""},
		{" 1 , 1 ", []int{1}, "1", ""},
		{"0-2,5,7-8", []int{0, 1, 2, 5, 7, 8}, "0-2,5,7-8", ""},
		{"1023", []int{1023}, "1023", ""},
		{"a", nil, "", "not a CPU number"},
		{"1-", nil, "", "not a CPU number"},
		{"3-1", nil, "", "backwards"},
		{"1024", nil, "", "not a CPU number"},
		{"-1", nil, "", "not a CPU number"},
		{"0,,1", nil, "", "not a CPU number"},
	}
	for _, tt := range tests {
		got, err := ParseCPUList(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseCPUList(%q) err = %v, want containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if f := FormatCPUList(got); f != tt.format {
			t.Errorf("FormatCPUList(%v) = %q, want %q", got, f, tt.format)
		}
	}
}

func TestQueueOrderAndFull(t *testing.T) {
	q := newQueue(3) // rounds up to 4
	if len(q.slots) != 4 {
		t.Fatalf("queue size %d, want 4", len(q.slots))
	}
	jobs := make([]*countJob, 6)
	for round := range 3 { // wrap around several times
		for i := range 4 {
			jobs[i] = &countJob{}
			if !q.push(jobs[i], int64(round*10+i)) {
				t.Fatalf("round %d: push %d failed on a non-full queue", round, i)
			}
		}
		if q.push(&countJob{}, 99) {
			t.Fatalf("round %d: push succeeded on a full queue", round)
		}
		for i := range 4 {
			j, st, ok := q.pop()
			if !ok || j != Job(jobs[i]) || st != int64(round*10+i) {
				t.Fatalf("round %d: pop %d = %v %d %v", round, i, j, st, ok)
			}
		}
		if _, _, ok := q.pop(); ok {
			t.Fatalf("round %d: pop on empty queue succeeded", round)
		}
	}
}

type countJob struct{ n int }

func (j *countJob) Run(Stamps) { j.n++ }
