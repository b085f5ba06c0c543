package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// EventMap is the event as CEL filters and templates see it: id, type, source_id,
// data (decoded JSON), headers, depth and created_at.
func EventMap(ev *Event) (map[string]any, error) {
	var data any
	if len(ev.Data) > 0 {
		dec := json.NewDecoder(bytes.NewReader(ev.Data))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil {
			return nil, fmt.Errorf("decode event %s data: %w", ev.ID, err)
		}
		data = Numbers(data)
	}
	headers := make(map[string]any, len(ev.Headers))
	for k, v := range ev.Headers {
		headers[k] = v
	}
	return map[string]any{
		"id":         ev.ID,
		"type":       ev.Type,
		"source_id":  ev.SourceID,
		"data":       data,
		"headers":    headers,
		"depth":      int64(ev.Depth),
		"created_at": ev.CreatedAt.UTC().Format(time.RFC3339),
	}, nil
}

// Numbers makes JSON numbers what CEL and templates expect: whole numbers become
// int64 (so `event.data.rating * 10` is integer arithmetic), others float64. It
// accepts json.Number (from a decoder with UseNumber) and float64 (from a plain
// decode, e.g. step outputs that went through Temporal) and walks maps and lists.
func Numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = Numbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = Numbers(e)
		}
		return x
	}
	return v
}
