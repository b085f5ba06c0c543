// Package workflows holds hookflow's deterministic orchestration: the EventWorkflow
// that fans an event out to its deliveries, the retry of one delivery, their IDs,
// options and search attributes, and the Starter the API uses to begin them.
//
// Everything here runs under Temporal's replay rules: no clocks, goroutines or
// randomness outside the workflow package's own.
package workflows
