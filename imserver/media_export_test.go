package imserver

import "context"

// SweepMedia runs one sweep of unsent files now, as the janitor does,
// and returns the records and files it deleted.
func SweepMedia(s *Server) (records, files int, err error) {
	st, err := s.sweepMedia(context.Background(), mediaSweepBatch)
	return st.records, st.files, err
}
