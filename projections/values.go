package projections

import "github.com/google/uuid"

// nullUUID is id, or SQL NULL for the nil UUID.
func nullUUID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}
