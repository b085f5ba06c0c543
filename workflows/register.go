package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Register puts hookflow's workflows on a worker, each under its name in the
// contract (contract.go), so renaming a Go function cannot change what running
// workflows are. The activity packages register their activities the same way
// (delivery.Activities.Register, runs.Activities.Register).
func Register(w worker.WorkflowRegistry) {
	for _, wf := range Workflows() {
		w.RegisterWorkflowWithOptions(wf.Func, workflow.RegisterOptions{Name: wf.Name})
	}
}
