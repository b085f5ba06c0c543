package workflows

import (
	"fmt"
	"strings"
	"testing"
)

// TestFailedMessageBounded: a batch whose every delivery failed names the first
// few and counts the rest, so its failure message stays short.
func TestFailedMessageBounded(t *testing.T) {
	var failed []DeliveryOutcome
	for i := range 1000 {
		failed = append(failed, DeliveryOutcome{DeliveryID: fmt.Sprintf("del_%d", i), EndpointID: "ep_1", Error: "HTTP 400"})
	}
	msg := failedMessage(failed)
	if !strings.HasPrefix(msg, "1000 of the batch's deliveries failed: ep_1 (del_0): HTTP 400; ") || !strings.HasSuffix(msg, "; and 990 more") || len(msg) > 500 {
		t.Errorf("message (%d bytes): %s", len(msg), msg)
	}
	if got := failedMessage(failed[:1]); got != "1 of the batch's deliveries failed: ep_1 (del_0): HTTP 400" {
		t.Errorf("one failure: %s", got)
	}
}
