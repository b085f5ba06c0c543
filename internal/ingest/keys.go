package ingest

// The dedup keys below are stored in the events table and are part of every
// EventWorkflow's ID, so their bytes must never change: a changed spelling would
// take a resent event for a new one.

// freshPrefix marks a key no other send can share: hookflow's own event id.
const freshPrefix = "evt:"

// FreshKey is the key of an event nothing else can duplicate.
func FreshKey(eventID string) string { return freshPrefix + eventID }

// APIKey is what makes two POST /v1/events the same event: the caller's own event
// id, else its Idempotency-Key, else nothing (hookflow's fresh id).
func APIKey(externalID, idempotencyKey, eventID string) string {
	switch {
	case externalID != "":
		return "id:" + externalID
	case idempotencyKey != "":
		return "key:" + idempotencyKey
	}
	return FreshKey(eventID)
}

// SourceKey is what makes two deliveries to /hooks the same event: the sender's
// delivery id within its source, else nothing.
func SourceKey(sourceID, externalID, eventID string) string {
	if externalID == "" {
		return FreshKey(eventID)
	}
	return "src:" + sourceID + ":" + externalID
}

// EmitKey derives an emitted event's key from the step that emits it, so a
// retried step finds the event it already emitted.
func EmitKey(stepKey, suffix string) string { return "emit:" + stepKey + ":" + suffix }

// EndpointDisabledKey is the key of the platform's endpoint.disabled event: once
// per endpoint and reason key, so a retried activity does not announce it twice.
func EndpointDisabledKey(endpointID, key string) string {
	return "endpoint.disabled:" + endpointID + ":" + key
}

// isFresh reports whether key came from FreshKey; such a key has no earlier event.
func isFresh(key string) bool {
	return len(key) >= len(freshPrefix) && key[:len(freshPrefix)] == freshPrefix
}
