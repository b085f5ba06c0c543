package main

import (
	"context"
	"os"
	"path/filepath"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// recordHistory saves a finished workflow's history as JSON into the directory named
// by HOOKFLOW_RECORD_HISTORIES (e.g. ../../workflows/testdata), where the replay test
// picks it up. Without the variable it does nothing: recording is a deliberate act
// when a workflow changes shape.
func (s *stack) recordHistory(workflowID, name string) {
	s.t.Helper()
	dir := os.Getenv("HOOKFLOW_RECORD_HISTORIES")
	if dir == "" {
		return
	}
	s.recordHistoryTo(workflowID, filepath.Join(dir, name+".json"))
}

// recordHistoryTo writes workflowID's history to path.
func (s *stack) recordHistoryTo(workflowID, path string) {
	s.t.Helper()
	it := s.client.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			s.t.Fatalf("history of %s: %v", workflowID, err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("recorded %s (%d events)", path, len(h.Events))
}
