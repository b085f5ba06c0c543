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
// With a non-zero register it first registers the namespace with that
// retention when missing (on Postgres nothing creates it before the server
// runs) and waits for the services' namespace caches to see it.
func dialReady(ctx context.Context, addr, namespace string, register time.Duration, logger *slog.Logger) (client.Client, error) {
	var c client.Client
	registered := register == 0
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
		if !registered {
			created, err := tsetup.EnsureNamespace(ctx, c, namespace, register)
			if err != nil {
				return err
			}
			registered = true
			if created {
				if err := sleepCtx(ctx, namespaceRefresh); err != nil {
					return err
				}
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
	if err := sleepCtx(ctx, namespaceRefresh); err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
