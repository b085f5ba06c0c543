package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// DefaultTaskQueue is where hookflow's workers poll unless HOOKFLOW_TASK_QUEUE says otherwise.
const DefaultTaskQueue = "hookflow"

// Search attributes hookflow sets on its workflows, so ops can find in the Web UI
// everything a workspace, an event type, a source, an endpoint or an automation caused.
var (
	SAWorkspace  = temporal.NewSearchAttributeKeyKeyword("HookflowWorkspace")
	SAEventType  = temporal.NewSearchAttributeKeyKeyword("HookflowEventType")
	SASource     = temporal.NewSearchAttributeKeyKeyword("HookflowSource")
	SAEndpoint   = temporal.NewSearchAttributeKeyKeyword("HookflowEndpoint")
	SAAutomation = temporal.NewSearchAttributeKeyKeyword("HookflowAutomation")
)

// SearchAttributes returns the custom search attributes to register on a namespace.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SAWorkspace.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAEventType.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SASource.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAEndpoint.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAAutomation.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// maxKeyInID is how much of a caller's dedup key goes into a workflow ID verbatim;
// longer keys are hashed so IDs stay short and printable.
const maxKeyInID = 120

// EventWorkflowID derives the workflow ID of an event from its workspace and its
// dedup key (the caller's event id or Idempotency-Key, else hookflow's own event id),
// so the same event sent twice maps to the same workflow and Temporal runs it once.
func EventWorkflowID(workspaceID, dedupKey string) string {
	return fmt.Sprintf("event/%s/%s", workspaceID, idSafe(dedupKey))
}

// DeliveryRetryWorkflowID derives the ID of a manual retry from the delivery and the
// number of attempts made so far, so two clicks on "retry" start one run.
func DeliveryRetryWorkflowID(deliveryID string, attemptsSoFar int) string {
	return fmt.Sprintf("delivery-retry/%s/%d", deliveryID, attemptsSoFar)
}

func idSafe(key string) string {
	ok := len(key) <= maxKeyInID
	for i := 0; ok && i < len(key); i++ {
		c := key[i]
		ok = c > 0x20 && c < 0x7f
	}
	if ok {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}
