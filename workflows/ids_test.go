package workflows

import "testing"

func TestEventWorkflowIDIsStable(t *testing.T) {
	a, b := EventWorkflowID("ws_1", "id:order-1"), EventWorkflowID("ws_1", "id:order-1")
	if a != b {
		t.Errorf("IDs differ: %s vs %s", a, b)
	}
	if EventWorkflowID("ws_1", "id:x") == EventWorkflowID("ws_2", "id:x") {
		t.Error("different workspaces share an ID")
	}
	long := EventWorkflowID("ws_1", string(make([]byte, 500)))
	if len(long) > 200 {
		t.Errorf("long key gives a %d-byte ID", len(long))
	}
}
