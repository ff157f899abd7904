package main

import (
	"regexp"
	"strconv"
)

var tidRE = regexp.MustCompile(`msg="EC worker thread".* tid=(\d+)`)

// workerTID finds the worker's TID in the exporter's log.
func workerTID(log string) (int, bool) {
	m := tidRE.FindStringSubmatch(log)
	if m == nil {
		return 0, false
	}
	tid, err := strconv.Atoi(m[1])
	return tid, err == nil
}
