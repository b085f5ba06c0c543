package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
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
// attribute was added to hookflow. An attribute that exists with another type
// is an error: values of the old type are indexed in its column, and
// changing it needs a new data dir.
func ensureSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) error {
	if len(want) == 0 {
		return nil
	}
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := make(map[string]enumspb.IndexedValueType)
	for _, name := range slices.Sorted(maps.Keys(want)) {
		typ := want[name]
		if _, ok := have.GetSystemAttributes()[name]; ok {
			return fmt.Errorf("search attribute %s: name is reserved by temporal", name)
		}
		got, ok := have.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
		case got != typ:
			return fmt.Errorf("search attribute %s is %s in namespace %s, want %s", name, got, namespace, typ)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("add search attributes %v: %w", slices.Sorted(maps.Keys(missing)), err)
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
