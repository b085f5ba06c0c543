// Package tsetup prepares a Temporal cluster for hookflow: the namespace and the
// custom search attributes ops use to find runs in the Web UI. Both steps are
// idempotent, so `hookflow temporal-setup` can run at every deploy.
package tsetup

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// EnsureNamespace registers namespace with the given retention unless it exists,
// and reports whether it made it.
func EnsureNamespace(ctx context.Context, c client.Client, namespace string, retention time.Duration) (bool, error) {
	_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err == nil {
		return false, nil
	}
	var notFound *serviceerror.NamespaceNotFound
	if !errors.As(err, &notFound) {
		return false, fmt.Errorf("describe namespace %s: %w", namespace, err)
	}
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        namespace,
		Description:                      "hookflow",
		WorkflowExecutionRetentionPeriod: durationpb.New(retention),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if errors.As(err, &exists) {
		return false, nil // another temporal-setup got there first
	}
	if err != nil {
		return false, fmt.Errorf("register namespace %s: %w", namespace, err)
	}
	return true, nil
}

// EnsureSearchAttributes adds the attributes the namespace lacks and returns their
// names. An attribute that exists with another type is an error: its values are
// indexed in a column of that type, and changing it needs a new attribute name.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) ([]string, error) {
	if len(want) == 0 {
		return nil, nil
	}
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes: %w", err)
	}
	missing := make(map[string]enumspb.IndexedValueType)
	for _, name := range slices.Sorted(maps.Keys(want)) {
		typ := want[name]
		if _, ok := have.GetSystemAttributes()[name]; ok {
			return nil, fmt.Errorf("search attribute %s: name is reserved by temporal", name)
		}
		got, ok := have.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
		case got != typ:
			return nil, fmt.Errorf("search attribute %s is %s in namespace %s, want %s", name, got, namespace, typ)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	names := slices.Sorted(maps.Keys(missing))
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	if err != nil {
		return nil, fmt.Errorf("add search attributes %v: %w", names, err)
	}
	return names, nil
}
