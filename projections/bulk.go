package projections

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"ledger/eventstore"
)

// BulkLoader is a projection that a rebuild fills through Load instead of
// Apply: with COPY, into the tables the rebuild has just created, empty,
// in its scratch schema, which is much cheaper than an idempotent INSERT.
// The live projection and the catch-up before a swap still use Apply.
type BulkLoader interface {
	Projection
	// Load writes the rows of batch into the projection's tables in
	// schema, inside tx. The tables hold only what earlier calls of Load
	// wrote, from events before batch, and no index but those that
	// Create makes: Load need not look for rows already there.
	Load(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error
}

// statementIndexer is an Indexer whose indexes are each made by a
// statement of their own, so that a rebuild can make them at the same
// time on several connections: the statements of each, in any order or
// at once, then those of then, in order.
type statementIndexer interface {
	Indexer
	indexStatements(schema string) (each, then []string)
}

// copyRows builds the rows of a COPY … FROM STDIN (FORMAT binary): a
// tuple is its number of fields, then each field as its length and its
// bytes in the type's binary form, or length -1 for NULL.
type copyRows struct {
	buf  []byte
	rows int
}

// copySignature begins every binary COPY stream, followed by the flags
// and the length of the header extension, both 0.
const copySignature = "PGCOPY\n\xff\r\n\x00"

// microsFromUnixToY2K is where Postgres timestamps count from: 2000-01-01
// UTC, in microseconds after the Unix epoch.
const microsFromUnixToY2K = 946_684_800 * 1_000_000

func (c *copyRows) row(fields int) {
	c.buf = binary.BigEndian.AppendUint16(c.buf, uint16(fields))
	c.rows++
}

func (c *copyRows) null() { c.buf = binary.BigEndian.AppendUint32(c.buf, 0xffffffff) }

func (c *copyRows) int8(v int64) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, 8)
	c.buf = binary.BigEndian.AppendUint64(c.buf, uint64(v))
}

func (c *copyRows) uuid(id [16]byte) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, 16)
	c.buf = append(c.buf, id[:]...)
}

func (c *copyRows) nullableUUID(id pgtype.UUID) {
	if !id.Valid {
		c.null()
		return
	}
	c.uuid(id.Bytes)
}

// text writes s as text, or as json: the binary form of both is the text.
func (c *copyRows) text(s []byte) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(len(s)))
	c.buf = append(c.buf, s...)
}

func (c *copyRows) str(s string) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(len(s)))
	c.buf = append(c.buf, s...)
}

// strOrNull writes s, or NULL for the empty string.
func (c *copyRows) strOrNull(s string) {
	if s == "" {
		c.null()
		return
	}
	c.str(s)
}

// timestamptz writes t to the microsecond, truncated, as pgx does.
func (c *copyRows) timestamptz(t time.Time) {
	c.int8(t.Unix()*1_000_000 + int64(t.Nanosecond())/1000 - microsFromUnixToY2K)
}

// copyStream is a binary COPY stream whose rows are encoded as
// pgconn reads it: next appends the next row to the copyRows it is
// given, or says there are none left.
type copyStream struct {
	c    copyRows
	sent int
	next func(c *copyRows) (more bool, err error)
	done bool
	err  error
}

// Read implements io.Reader.
func (s *copyStream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.c.buf == nil {
		s.c.buf = make([]byte, 0, 2*len(p))
		s.c.buf = append(s.c.buf, copySignature...)
		s.c.buf = binary.BigEndian.AppendUint64(s.c.buf, 0)
	}
	for !s.done && len(s.c.buf)-s.sent < len(p) {
		more, err := s.next(&s.c)
		if err != nil {
			s.err = err
			return 0, err
		}
		if !more {
			s.c.buf = binary.BigEndian.AppendUint16(s.c.buf, 0xffff)
			s.done = true
		}
	}
	n := copy(p, s.c.buf[s.sent:])
	s.sent += n
	if s.sent < len(s.c.buf) {
		return n, nil
	}
	s.c.buf, s.sent = s.c.buf[:0], 0
	if s.done {
		return n, io.EOF
	}
	return n, nil
}

// copyFrom copies the rows next gives into columns of table t
// (schema-qualified and quoted) inside tx, encoding them as they are sent.
func copyFrom(ctx context.Context, tx pgx.Tx, t string, columns []string, next func(c *copyRows) (bool, error)) error {
	s := &copyStream{next: next}
	sql := fmt.Sprintf(`COPY %s (%s) FROM STDIN (FORMAT binary)`, t, strings.Join(columns, ", "))
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, s, sql)
	switch {
	case s.err != nil:
		return s.err
	case err != nil:
		return err
	case tag.RowsAffected() != int64(s.c.rows):
		return fmt.Errorf("copied %d rows of %d", tag.RowsAffected(), s.c.rows)
	}
	return nil
}
