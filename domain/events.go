package domain

import (
	"encoding/json"
	"fmt"
)

// Event is a fact that an aggregate decided. Each event type has a stable
// name, its EventType, that never changes once events of it are stored.
type Event interface {
	EventType() string
}

// registry maps every event type's stable name to a constructor of its
// zero value. It is the one list of the domain's events.
var registry = map[string]func() Event{}

// register adds events to the registry; it panics on a name given twice,
// which is a programming error caught by any test.
func register(events ...func() Event) {
	for _, newEvent := range events {
		name := newEvent().EventType()
		if _, dup := registry[name]; dup {
			panic("domain: event type registered twice: " + name)
		}
		registry[name] = newEvent
	}
}

// EventTypes returns the names of every registered event type.
func EventTypes() []string {
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	return names
}

// MarshalEvent encodes e as its type name and JSON data.
func MarshalEvent(e Event) (string, []byte, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("marshal %s: %w", e.EventType(), err)
	}
	return e.EventType(), data, nil
}

// UnmarshalEvent decodes an event of type name from its JSON data. An
// unknown name or data that does not fit the type is an error.
func UnmarshalEvent(name string, data []byte) (Event, error) {
	newEvent, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unmarshal event: unknown type %q", name)
	}
	e := newEvent()
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("unmarshal %s: %w", name, err)
	}
	return e, nil
}
