// Package prober schedules the EC probes on the real-time worker and keeps what they
// measured. Per device it opens the EC on the worker, sends the Liveness commands of the
// Commands table every interval, and the Identity and State ones when the device opens,
// every identity interval, and (State only) after the EC recovers. Scrapes read the
// state through Snapshots, which never waits for the EC.
package prober
