package auditexport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// Media types of the export formats.
const (
	// MediaNDJSON is the media type of NDJSON.
	MediaNDJSON = "application/x-ndjson"
	// MediaCSV is the media type of CSV.
	MediaCSV = "text/csv"
)

const (
	// writeWindow is how long the client has to take each page: the
	// connection's write deadline moves on by it at every page.
	writeWindow = time.Minute
	// streamBuffer is the size of the buffer between the encoder and the
	// connection.
	streamBuffer = 64 << 10
)

// MediaType is the media type of an export format.
func MediaType(format string) string {
	if format == CSV {
		return MediaCSV
	}
	return MediaNDJSON
}

// Stream answers 200 on w with the export of tenant's audit log in
// format, as an attachment: first, then every following page of next,
// each flushed to the client as it is written, the connection's write
// deadline moved on at every page. The stream outlives ctx's deadline
// (each page has its own, Exporter.Next). It returns how many events it
// sent. An unknown format (ErrFormat) fails before anything is sent;
// any other error comes after the status, so that the caller can only
// abort the connection, lest the client take a truncated export for a
// complete one.
func Stream(ctx context.Context, w http.ResponseWriter, format string, tenant uuid.UUID, first []Row, next PageSource) (int64, error) {
	out := bufio.NewWriterSize(w, streamBuffer)
	enc, err := NewEncoder(format, out)
	if err != nil {
		return 0, err
	}
	w.Header().Set("Content-Type", MediaType(format)+"; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit-%s.%s"`, tenant, format))
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	flushed := func(int64) error {
		_ = rc.SetWriteDeadline(time.Now().Add(writeWindow)) // a writer without deadlines has none to move
		if err := out.Flush(); err != nil {
			return err
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}
	return Copy(context.WithoutCancel(ctx), first, next, enc, flushed)
}
