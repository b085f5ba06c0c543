package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/hookflow/hookflow/internal/tsetup"
)

// namespaceRefresh is how long the services may take to see a namespace
// change: each keeps a namespace cache refreshed every two seconds (dynamic
// config system.namespaceCacheRefreshInterval), plus a margin.
const namespaceRefresh = 3 * time.Second

// dialReady connects an SDK client and waits until the frontend describes the
// namespace, which takes the frontend, persistence and the namespace cache.
func dialReady(ctx context.Context, addr, namespace string, logger *slog.Logger) (client.Client, error) {
	var c client.Client
	err := poll(ctx, func(ctx context.Context) error {
		if c == nil {
			dialCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			var err error
			c, err = client.DialContext(dialCtx, client.Options{
				HostPort:  addr,
				Namespace: namespace,
				Logger:    sdklog.NewStructuredLogger(logger),
			})
			if err != nil {
				return err
			}
		}
		_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
		return err
	})
	if err != nil {
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("wait for temporal frontend at %s: %w", addr, err)
	}
	return c, nil
}

// ensureSearchAttributes adds the attributes the namespace lacks. A new
// namespace has them all already; this is for a data dir created before an
// attribute was added to hookflow.
func ensureSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) error {
	added, err := tsetup.EnsureSearchAttributes(ctx, c, namespace, want)
	if err != nil || len(added) == 0 {
		return err
	}
	// The frontend and history validate search attributes against their
	// namespace caches; until those refresh, a workflow using a new attribute
	// would be rejected.
	select {
	case <-ctx.Done():
		return fmt.Errorf("add search attributes: %w", ctx.Err())
	case <-time.After(namespaceRefresh):
		return nil
	}
}
