package activities

// Error types of the application errors the activities return, as they appear in
// Temporal and the Web UI. They are part of the Temporal contract (see
// workflows/contract.go, which lists them with the workflows' own): retry policies
// and workflow branches match on them, so they are never renamed.
const (
	// ErrTypeBadEvent is an event whose data cannot be read as the map filters are
	// evaluated on; retrying would fail the same way.
	ErrTypeBadEvent = "BadEvent"
	// ErrTypeDeliveryRetry is a failed attempt that will be retried.
	ErrTypeDeliveryRetry = "DeliveryAttemptFailed"
	// ErrTypeDeliveryFinal is a delivery that has failed for good.
	ErrTypeDeliveryFinal = "DeliveryFailed"
	// ErrTypeDeliveryPaced is a delivery held back by its endpoint's rate limit;
	// nothing was sent and it is not counted as an attempt.
	ErrTypeDeliveryPaced = "DeliveryPaced"
	// ErrTypeDeliveryNotDue is an attempt started before its NotBefore time: nothing
	// was sent; Temporal runs it again when it is due.
	ErrTypeDeliveryNotDue = "DeliveryNotDue"
	// ErrTypeStepAttemptFailed is a failed step attempt that will be retried.
	ErrTypeStepAttemptFailed = "StepAttemptFailed"
	// ErrTypeStepFailed is a step that failed for good (or a run that cannot load).
	ErrTypeStepFailed = "StepFailed"
)
