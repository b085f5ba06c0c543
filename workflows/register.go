package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hookflow/hookflow/activities"
)

// Register puts hookflow's workflows and acts's activities on a worker.
func Register(w worker.Registry, acts *activities.Activities) {
	w.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: "EventWorkflow"})
	w.RegisterWorkflowWithOptions(DeliveryRetryWorkflow, workflow.RegisterOptions{Name: "DeliveryRetryWorkflow"})
	w.RegisterWorkflowWithOptions(AutomationRunWorkflow, workflow.RegisterOptions{Name: "AutomationRunWorkflow"})
	// Registering the struct registers every method as an activity, local ones too:
	// the workflow names them through a nil *Activities and the registry supplies the real one.
	w.RegisterActivity(acts)
}
