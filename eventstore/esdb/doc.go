// Package esdb stores the ledger's event log in EventStoreDB or KurrentDB,
// through the official gRPC client.
//
// # Envelope
//
// Each ledger stream is a server stream of the same name and each ledger
// event one server event with the same id and type, JSON data, and the
// envelope (Metadata plus "schema_version") as the event's JSON user
// metadata. The server's created time is Event.RecordedAt.
//
// # Versions
//
// A stream's version is its number of events: an event's Version is its
// server stream revision plus one, and an empty or missing stream is at
// version 0. Exact(v) is sent as expected revision v-1.
//
// # Positions
//
// The server orders $all by a pair of transaction-log offsets, commit and
// prepare. Every event appended through the gRPC API is its own implicitly
// committed log record, so its commit and prepare positions are equal, and
// distinct from every other event's, and commit positions strictly increase
// in $all order. A ledger Position is therefore the event's commit position,
// and a stored Position p resumes $all at the server position {p, p}. Reads
// and subscriptions also skip any event at or before p themselves, so
// resuming never repeats an event.
//
// Events written by legacy TCP clients inside explicit transactions share
// one commit position; such events (not written by this package, and not
// possible on KurrentDB, which has no TCP API) would break the strict order.
//
// System streams and system events (names and types beginning with "$") are
// not part of the ledger's global log: ReadAll, Subscribe and Head skip them.
//
// # Appends
//
// Append takes the whole eventstore.AppendRequest: one or several streams,
// conditions on other streams and an idempotency key. The server, through
// this client, appends to one stream at a time, checks an expected revision
// only on the stream it writes, and has no transaction around several
// writes. So a single stream's expectation is checked by the server,
// atomically; conditions, and the expectations of several streams, are
// checked by reading the streams' versions just before writing; several
// streams are written one after another; and a key is recorded in a stream
// of its own after the events. Event ids are claimed across streams (see
// ClaimStreamPrefix) and keys recorded (see KeyStreamPrefix) in streams the
// package reserves, with "$" event types that the global log never shows.
//
// The store is therefore eventstore.Limited: it cannot keep
// eventstore.ConditionsInLogOrder, eventstore.AtomicStreams or
// eventstore.AtomicKeys (see Store.Unkept), and a program that runs on it
// prints Store.Warnings when it starts.
//
// The package needs a server that returns $all positions on stream reads:
// EventStoreDB 22.6 or later, or any KurrentDB.
package esdb
