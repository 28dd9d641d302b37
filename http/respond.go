package http

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"ledger/eventstore"
)

// etag is the ETag of an aggregate at version.
func etag(version uint64) string { return `"` + strconv.FormatUint(version, 10) + `"` }

// written answers a mutation: its status, the aggregate's ETag when there
// is one (version > 0), and Ledger-Position, the position of its last
// event.
func written(c echo.Context, status int, version uint64, pos eventstore.Position, body any) error {
	h := c.Response().Header()
	if version > 0 {
		h.Set(headerETag, etag(version))
	}
	h.Set(headerLedgerPosition, strconv.FormatUint(uint64(pos), 10))
	if status == http.StatusCreated {
		setLocation(c, body)
	}
	if body == nil {
		return c.NoContent(status)
	}
	return c.JSON(status, body)
}

// entity answers a read of one aggregate at version.
func entity(c echo.Context, version uint64, body any) error {
	c.Response().Header().Set(headerETag, etag(version))
	return c.JSON(http.StatusOK, body)
}

// caughtUp waits, before a read, until the read models include the
// position the caller asked for with Ledger-Min-Position: at most
// minPositionWait, then projections.ErrLagging (503).
func (s *server) caughtUp(c echo.Context) error {
	pos, err := minPosition(c)
	if err != nil || pos == 0 {
		return err
	}
	return s.waitFor(c.Request().Context(), pos)
}

func jsonEncode(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
