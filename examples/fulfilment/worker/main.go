// Command worker runs the fulfilment example's Temporal worker beside
// hookflow: TEMPORAL_ADDRESS (default 127.0.0.1:7233), TEMPORAL_NAMESPACE
// (default "default") and ORDERS_TASK_QUEUE (default "orders"). It stops on
// SIGINT or SIGTERM.
package main

import (
	"log"
	"os"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hookflow/hookflow/examples/fulfilment"
)

func main() {
	c, err := client.Dial(client.Options{HostPort: env("TEMPORAL_ADDRESS", "127.0.0.1:7233"), Namespace: env("TEMPORAL_NAMESPACE", "default")})
	if err != nil {
		log.Fatalf("dial temporal: %v", err)
	}
	defer c.Close()
	queue := env("ORDERS_TASK_QUEUE", fulfilment.TaskQueue)
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(fulfilment.FulfilOrder, workflow.RegisterOptions{Name: fulfilment.WorkflowName})
	w.RegisterActivityWithOptions(fulfilment.Reserve, activity.RegisterOptions{Name: fulfilment.ReserveActivity})
	log.Printf("fulfilment worker polling %s", queue)
	if err := w.Run(worker.InterruptCh()); err != nil {
		log.Fatalf("worker: %v", err)
	}
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
