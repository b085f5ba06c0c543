package workflows

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hookflow/hookflow/activities"
)

// Register puts hookflow's workflows and acts's activities on a worker, each under
// its name in the contract (contract.go), so renaming a Go function or method
// cannot change what running workflows call.
func Register(w worker.Registry, acts *activities.Activities) {
	for _, wf := range Workflows() {
		w.RegisterWorkflowWithOptions(wf.Func, workflow.RegisterOptions{Name: wf.Name})
	}
	// One by one rather than the struct: registering the struct would expose every
	// exported method as an activity, helpers included. Local activities are
	// registered here too; the workflows call them by name.
	for _, act := range activityFuncs(acts) {
		w.RegisterActivityWithOptions(act.fn, activity.RegisterOptions{Name: act.name})
	}
}

type namedActivity struct {
	name string
	fn   any
}

// activityFuncs pairs each activity's contract name with the method that serves it.
func activityFuncs(acts *activities.Activities) []namedActivity {
	return []namedActivity{
		{PrepareEventActivity, acts.PrepareEvent},
		{DeliverActivity, acts.Deliver},
		{LoadRunActivity, acts.LoadRun},
		{RunStepActivity, acts.RunStep},
		{FinishRunActivity, acts.FinishRun},
	}
}
