package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// Event is a fact that an aggregate decided. Each event type has a stable
// name, its EventType, that never changes once events of it are stored.
type Event interface {
	EventType() string
}

// ErrUnreadableEvent: an event cannot be read as its type: the type is
// unknown, its schema version is newer than this build's or has no
// upcaster, or its data does not fit the type strictly (strict.go).
var ErrUnreadableEvent = errors.New("unreadable event")

// eventType is a registered event type: the constructor of its zero value
// and the shape its data must have.
type eventType struct {
	newEvent func() Event
	shape    *shape
}

// registry maps every event type's stable name to its constructor and
// shape. It is the one list of the domain's events.
var registry = map[string]eventType{}

// register adds events to the registry; it panics on a name given twice,
// or a type strict decoding cannot follow, programming errors caught by
// any test.
func register(events ...func() Event) {
	for _, newEvent := range events {
		e := newEvent()
		name := e.EventType()
		if _, dup := registry[name]; dup {
			panic("domain: event type registered twice: " + name)
		}
		t := reflect.TypeOf(e)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		registry[name] = eventType{newEvent: newEvent, shape: shapeOf(t, map[reflect.Type]bool{})}
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

// Upcaster rewrites the JSON data of an event from one schema version of
// its type to the next.
type Upcaster func(data []byte) ([]byte, error)

type upcastKey struct {
	name string
	from int
}

var (
	// upcasters holds the upcaster of each (type, old version).
	upcasters = map[upcastKey]Upcaster{}
	// latest holds the schema version of each type that has upcasters:
	// one past its latest.
	latest = map[string]int{}
)

// upcast registers f, which brings the data of event type name from
// schema version from to from+1. A type's current schema version is one
// past its latest upcaster, 1 when it has none: bumping a version is
// writing the upcaster to it. It panics on a pair given twice.
func upcast(name string, from int, f Upcaster) {
	key := upcastKey{name, from}
	if _, dup := upcasters[key]; dup {
		panic(fmt.Sprintf("domain: upcaster of %s v%d registered twice", name, from))
	}
	upcasters[key] = f
	latest[name] = max(latest[name], from+1)
}

// SchemaVersion returns the current schema version of event type name,
// the one MarshalEvent records: 0 for a type that is not registered.
func SchemaVersion(name string) int {
	if _, ok := registry[name]; !ok {
		return 0
	}
	return max(latest[name], 1)
}

// MarshalEvent encodes e as its type name, the type's current schema
// version and JSON data. A type that is not registered is an error: what
// it wrote could not be read back.
func MarshalEvent(e Event) (name string, version int, data []byte, err error) {
	name = e.EventType()
	if version = SchemaVersion(name); version == 0 {
		return "", 0, nil, fmt.Errorf("%w: marshal %s: type not registered", ErrUnreadableEvent, name)
	}
	if data, err = json.Marshal(e); err != nil {
		return "", 0, nil, fmt.Errorf("marshal %s: %w", name, err)
	}
	return name, version, data, nil
}

// UnmarshalEvent decodes an event of type name recorded at schema version
// version: the upcasters from that version to the current one rewrite
// data, which is then decoded strictly (strict.go). Every error wraps
// ErrUnreadableEvent and names the type and version; callers add the
// event's position.
func UnmarshalEvent(name string, version int, data []byte) (Event, error) {
	t, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("%w: unknown type %q v%d", ErrUnreadableEvent, name, version)
	}
	data, err := upcastData(name, version, data)
	if err == nil {
		err = checkShape(data, t.shape)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s v%d: %w", ErrUnreadableEvent, name, version, err)
	}
	e := t.newEvent()
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("%w: %s v%d: %w", ErrUnreadableEvent, name, version, err)
	}
	return e, nil
}

// upcastData brings data of type name from version to the current one.
// Data to upcast is first checked for what upcasters cannot see once
// they decode it (a key given twice, strings that are not UTF-8).
func upcastData(name string, version int, data []byte) ([]byte, error) {
	current := SchemaVersion(name)
	switch {
	case version > current:
		return nil, fmt.Errorf("schema version %d is newer than this build's %d", version, current)
	case version == current:
		return data, nil
	}
	if err := checkShape(data, anyShape); err != nil {
		return nil, err
	}
	for v := version; v < current; v++ {
		up, ok := upcasters[upcastKey{name, v}]
		if !ok {
			return nil, fmt.Errorf("no upcaster from schema version %d to %d", v, v+1)
		}
		out, err := up(data)
		if err != nil {
			return nil, fmt.Errorf("upcast from schema version %d: %w", v, err)
		}
		data = out
	}
	return data, nil
}
