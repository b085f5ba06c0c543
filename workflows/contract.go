package workflows

// This file is hookflow's Temporal contract: everything a running workflow, a worker
// and the saved histories in testdata have to agree on. Workflow and activity names,
// workflow IDs, search attributes, error type names and option sets all live here,
// so a change to any of them is a change to one file that reviewers read with the
// replay test in mind.
//
// Versioning rule. A change to what a workflow does (a new command, a command in a
// different order, a different activity or timer) must not alter how runs already in
// flight replay. hookflow does this with input flags, not workflow.GetVersion: the
// Starter sets a new boolean field on the input of every run it starts (as it sets
// FirstAttemptLocal), the workflow branches on it, and runs started before the field
// existed decode it as false and replay the old path. Input flags are chosen over
// GetVersion because a version marker also upserts the TemporalChangeVersion search
// attribute, one visibility write per workflow, which on EventWorkflow costs as much
// as the local first attempt it would guard. An old path may be deleted once no run
// started without the flag can still be open or replayed: every such run has closed
// and the namespace's retention has passed since the release that set the flag (and
// its saved histories in testdata are deleted in the same change). Names, IDs, search
// attributes and error types below are never renamed; a new one is added beside the
// old instead.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// DefaultTaskQueue is where hookflow's workers poll unless HOOKFLOW_TASK_QUEUE says otherwise.
const DefaultTaskQueue = "hookflow"

// Workflow type names. They are what histories record, so they equal the Go function
// names the workflows were first registered under, and stay so if a function is renamed.
const (
	EventWorkflowName         = "EventWorkflow"
	DeliveryRetryWorkflowName = "DeliveryRetryWorkflow"
	AutomationRunWorkflowName = "AutomationRunWorkflow"
	BatchWorkflowName         = "BatchWorkflow"
	// The per-key entity workflows of flow control (FlowWorkflowID): each takes
	// the events of one automation and key as FlowSignal signals (started by
	// SignalWithStart) and decides, serially and durably, when runs start.
	CountWorkflowName       = "CountWorkflow"
	DebounceWorkflowName    = "DebounceWorkflow"
	ConcurrencyWorkflowName = "ConcurrencyWorkflow"
	ThrottleWorkflowName    = "ThrottleWorkflow"
)

// Signal names.
const (
	// SignalWaitMatched tells a run that an event took one of its waits
	// (WaitSignal): a wait_for_event step resumes with it.
	SignalWaitMatched = "hookflow.wait-matched"
	// SignalFlowEvent hands an event to a flow-control entity (FlowSignal).
	SignalFlowEvent = "hookflow.flow-event"
)

// Flow-control kinds: the first segment of an entity's workflow ID.
const (
	FlowCount       = "count"
	FlowDebounce    = "debounce"
	FlowConcurrency = "concurrency"
	FlowThrottle    = "throttle"
)

// Activity type names, local and regular alike. They equal the names the SDK derived
// from the methods of the single activities struct hookflow once had, before
// registration was explicit, which is what the saved histories hold. The activity
// packages register their methods under these names (delivery.Activities.Register,
// runs.Activities.Register).
const (
	PrepareEventActivity = "PrepareEvent"
	PrepareBatchActivity = "PrepareBatch"
	// StartDeliveryActivity starts a delivery's own workflow for a batch (see
	// BatchWorkflow's handOff).
	StartDeliveryActivity = "StartDelivery"
	// CloseWaitActivity ends a wait_for_event step's wait (matched or timed
	// out) and records the step's output.
	CloseWaitActivity = "CloseWait"
	// StartFlowRunActivity records the run a flow-control entity decided on
	// (count, debounce) or marks one it lets go (concurrency, throttle).
	StartFlowRunActivity = "StartFlowRun"
	// FinishChildStepActivity records how a workflow.run step's workflow
	// ended and returns the step's output.
	FinishChildStepActivity = "FinishChildStep"
	DeliverActivity         = "Deliver"
	LoadRunActivity         = "LoadRun"
	RunStepActivity         = "RunStep"
	FinishRunActivity       = "FinishRun"
)

// Error type names of the application errors hookflow's workflows and activities
// raise. Retry policies and the workflows' branches match on them, so they are part
// of the contract too.
const (
	// ErrTypeDeliveriesFailed fails an EventWorkflow when a delivery failed for good.
	ErrTypeDeliveriesFailed = "DeliveriesFailed"
	// ErrTypeRunFailed fails an AutomationRunWorkflow when a step failed for good.
	ErrTypeRunFailed = "RunFailed"
	// ErrTypeBadEvent is an event whose data cannot be read as the map filters are
	// evaluated on; retrying would fail the same way.
	ErrTypeBadEvent = "BadEvent"
	// ErrTypeDeliveryRetry is a failed delivery attempt that will be retried.
	ErrTypeDeliveryRetry = "DeliveryAttemptFailed"
	// ErrTypeDeliveryFinal is a delivery that has failed for good.
	ErrTypeDeliveryFinal = "DeliveryFailed"
	// ErrTypeDeliveryPaced is a delivery held back by its endpoint's rate limit;
	// nothing was sent and it is not counted as an attempt.
	ErrTypeDeliveryPaced = "DeliveryPaced"
	// ErrTypeDeliveryNotDue is a delivery attempt started before its NotBefore
	// time: nothing was sent; Temporal runs it again when it is due.
	ErrTypeDeliveryNotDue = "DeliveryNotDue"
	// ErrTypeStepAttemptFailed is a failed step attempt that will be retried.
	ErrTypeStepAttemptFailed = "StepAttemptFailed"
	// ErrTypeStepNotDue is a step attempt started before its NotBefore time.
	ErrTypeStepNotDue = "StepNotDue"
	// ErrTypeStepFailed is a step that failed for good (or a run that cannot load).
	ErrTypeStepFailed = "StepFailed"
)

// RetryLater is the error of an attempt that failed and is to be tried again after
// delay: Temporal's activity retry waits exactly that (NextRetryDelay), and due,
// the time by the attempt's own clock, rides along as RetryDue for a workflow that
// schedules the retry itself (after a local first attempt).
func RetryLater(errType, msg string, delay time.Duration, due time.Time) error {
	return temporal.NewApplicationErrorWithOptions(msg, errType,
		temporal.ApplicationErrorOptions{NextRetryDelay: delay, Details: []any{RetryDue{At: due}}})
}

// NotDue is the error of an attempt that started before notBefore (see
// attempt.Due): nothing was done, and Temporal's activity retry timer brings it
// back when it is due. That timer is one per activity and precise, where a
// workflow's own timers share one timer task and the later ones fire up to a
// second late.
func NotDue(errType string, notBefore time.Time, left time.Duration) error {
	return temporal.NewApplicationErrorWithOptions(
		fmt.Sprintf("not due yet: the attempt is scheduled for %s", notBefore.UTC().Format(time.RFC3339Nano)),
		errType, temporal.ApplicationErrorOptions{NextRetryDelay: left})
}

// Workflow is one workflow function and the type name it is registered under.
type Workflow struct {
	Name string
	Func any
}

// Workflows lists every workflow hookflow's worker runs. The worker (Register) and
// the replay tests register this one list, so a workflow cannot be added to one and
// forgotten in the other.
func Workflows() []Workflow {
	return []Workflow{
		{Name: EventWorkflowName, Func: EventWorkflow},
		{Name: DeliveryRetryWorkflowName, Func: DeliveryRetryWorkflow},
		{Name: AutomationRunWorkflowName, Func: AutomationRunWorkflow},
		{Name: BatchWorkflowName, Func: BatchWorkflow},
		{Name: CountWorkflowName, Func: CountWorkflow},
		{Name: DebounceWorkflowName, Func: DebounceWorkflow},
		{Name: ConcurrencyWorkflowName, Func: ConcurrencyWorkflow},
		{Name: ThrottleWorkflowName, Func: ThrottleWorkflow},
	}
}

// Search attributes hookflow sets on its workflows, so ops can find in the Web UI
// everything a workspace, an event type, a source, an endpoint or an automation caused.
var (
	SAWorkspace  = temporal.NewSearchAttributeKeyKeyword("HookflowWorkspace")
	SAEventType  = temporal.NewSearchAttributeKeyKeyword("HookflowEventType")
	SASource     = temporal.NewSearchAttributeKeyKeyword("HookflowSource")
	SAEndpoint   = temporal.NewSearchAttributeKeyKeyword("HookflowEndpoint")
	SAAutomation = temporal.NewSearchAttributeKeyKeyword("HookflowAutomation")
	// SAWaitingOn is the event types a run waits for while it waits (a
	// wait_for_event step): `HookflowWaitingOn = "payment.succeeded"`.
	SAWaitingOn = temporal.NewSearchAttributeKeyKeywordList("HookflowWaitingOn")
	// SAKey is the flow-control or count key of an entity workflow and of the
	// runs it starts: `HookflowKey = "cus_1"`.
	SAKey = temporal.NewSearchAttributeKeyKeyword("HookflowKey")
)

// SearchAttributes returns the custom search attributes to register on a namespace.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SAWorkspace.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAEventType.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SASource.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAEndpoint.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAAutomation.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAWaitingOn.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
		SAKey.GetName():        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
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

// BatchWorkflowID is a batch's workflow ID: the intake, a re-send that finds
// the batch unstarted and the sweep all start the batch under it, and Temporal
// runs it once.
func BatchWorkflowID(workspaceID, batchID string) string {
	return fmt.Sprintf("batch/%s/%s", workspaceID, batchID)
}

// DeliveryWorkflowID is the ID of the workflow a batch hands a delivery to
// when its first attempt failed: one per delivery.
func DeliveryWorkflowID(deliveryID string) string {
	return "delivery/" + deliveryID
}

// FlowWorkflowID is the entity workflow of one flow-control kind (FlowCount…),
// automation and key: every event of the key signals the one workflow.
func FlowWorkflowID(kind, automationID, key string) string {
	return fmt.Sprintf("%s/%s/%s", kind, automationID, idSafe(key))
}

// DeveloperWorkflowID is the ID of the developer's workflow a workflow.run
// step starts: one per run and step, so a step made again starts nothing new.
func DeveloperWorkflowID(runID, stepID string) string {
	return fmt.Sprintf("wfrun/%s/%s", runID, stepID)
}

// DeliveryRetryWorkflowID derives the ID of a manual retry from the delivery and the
// number of attempts made so far, so two clicks on "retry" start one run.
func DeliveryRetryWorkflowID(deliveryID string, attemptsSoFar int) string {
	return fmt.Sprintf("delivery-retry/%s/%d", deliveryID, attemptsSoFar)
}

// RunWorkflowID derives an automation run's workflow ID from the automation and the
// event, so the same pair never runs twice.
func RunWorkflowID(automationID, eventID string) string {
	return fmt.Sprintf("run/%s/%s", automationID, eventID)
}

// RunRetryWorkflowID derives the ID of a retry of a failed automation run from the
// run's workflow ID and the moment the failure being retried was recorded: two
// clicks on "retry" of the same failed state name one workflow, and a retry that
// fails again records a new time, so it can be retried in turn. The shape
// (<run workflow id>/retry/<unix ms>) is the one IDs had when the time was the clock's.
func RunRetryWorkflowID(runWorkflowID string, failedAt time.Time) string {
	return fmt.Sprintf("%s/retry/%d", runWorkflowID, failedAt.UnixMilli())
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

// AttemptTimeout bounds one delivery attempt or step: the 15 s HTTP timeout
// (dispatch.DefaultTimeout) plus the bookkeeping around it.
const AttemptTimeout = 30 * time.Second

// HeartbeatTimeout is the heartbeat timeout of the activities that make HTTP
// requests (Deliver, RunStep). A worker killed mid-attempt is then noticed, and the
// attempt retried elsewhere, within this time rather than after AttemptTimeout.
const HeartbeatTimeout = 10 * time.Second

// localOptions is for the bookkeeping local activities (recording, planning, loading
// runs): database work that retries quickly until the database answers.
func localOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        200 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{ErrTypeStepFailed},
		},
	})
}

// retriedOptions are the regular activities that make attempts: a delivery
// (deliverOptions) or an automation step (stepOptions). One attempt may take the
// 15 s HTTP timeout plus bookkeeping. The activity applies the schedule itself
// through NextRetryDelay and decides when to stop (failing with finalType), so the
// policy has no attempt limit; its intervals only apply when an attempt never
// reported back (a worker that died mid-request, noticed by the heartbeat timeout:
// a long attempt heartbeats).
func retriedOptions(ctx workflow.Context, finalType string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: AttemptTimeout,
		HeartbeatTimeout:    HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			NonRetryableErrorTypes: []string{finalType},
		},
	})
}

func deliverOptions(ctx workflow.Context) workflow.Context {
	return retriedOptions(ctx, ErrTypeDeliveryFinal)
}

func stepOptions(ctx workflow.Context) workflow.Context {
	return retriedOptions(ctx, ErrTypeStepFailed)
}

// firstAttemptOptions: a delivery's or a step's first attempt runs once as a local
// activity, in the workflow task that planned it; what is left to retry goes to
// regular activities.
func firstAttemptOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: AttemptTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
}
