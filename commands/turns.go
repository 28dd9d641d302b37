package commands

import (
	"context"
	"slices"
	"sync"
)

// turns makes the commands of this process that write one stream take
// turns: each decides on the state its predecessor left, which the service
// keeps, and appends without a race to lose. Without them, writers of a
// hot stream would all decide on one state, one would win, and the others
// would read and decide again, round after round. Writers in other
// processes still race; the append's expectations settle that.
type turns struct {
	mu     sync.Mutex
	byName map[string]*turn
}

// turn is one stream's: a token held by the command whose turn it is, and
// the number of commands holding or waiting for it.
type turn struct {
	token chan struct{}
	users int
}

func newTurns() *turns { return &turns{byName: make(map[string]*turn)} }

// take waits for the turn on every one of streams, taken in name order so
// that two commands never wait for each other, and returns the function
// that gives them back. It gives up, holding none, when ctx ends.
func (t *turns) take(ctx context.Context, streams ...string) (release func(), err error) {
	streams = slices.Compact(slices.Sorted(slices.Values(streams)))
	held := make([]string, 0, len(streams))
	release = func() {
		for _, name := range held {
			t.give(name)
		}
	}
	for _, name := range streams {
		tr := t.join(name)
		select {
		case tr.token <- struct{}{}:
			held = append(held, name)
		case <-ctx.Done():
			t.leave(name)
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}

// join counts one more user of name's turn, making it when none has one.
func (t *turns) join(name string) *turn {
	t.mu.Lock()
	defer t.mu.Unlock()
	tr := t.byName[name]
	if tr == nil {
		tr = &turn{token: make(chan struct{}, 1)}
		t.byName[name] = tr
	}
	tr.users++
	return tr
}

// give ends the turn held on name.
func (t *turns) give(name string) {
	t.mu.Lock()
	tr := t.byName[name]
	t.mu.Unlock()
	<-tr.token
	t.leave(name)
}

// leave counts one user less of name's turn, forgetting it with the last.
func (t *turns) leave(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tr := t.byName[name]
	if tr.users--; tr.users == 0 {
		delete(t.byName, name)
	}
}
