// Package workflows holds hookflow's deterministic orchestration: the EventWorkflow
// that fans an event out to its deliveries, the retry of one delivery, their IDs,
// options and search attributes, and the Starter the API uses to begin them.
// flow.go holds the flow-control entities (count, debounce, concurrency,
// throttle): one workflow per automation and key that decides when its runs
// start.
// contract.go is the Temporal contract (names, IDs, error types, option sets and
// the versioning rule); payloads.go holds the payload types that must keep the
// JSON shape saved histories hold.
//
// Everything here runs under Temporal's replay rules: no clocks, goroutines or
// randomness outside the workflow package's own.
package workflows
