package redisstate

// Queued returns how many commands wait for the Store's next round trip,
// so that a test can hold one round trip until the others have queued.
func (s *Store) Queued() int {
	s.batch.mu.Lock()
	defer s.batch.mu.Unlock()
	return len(s.batch.queue)
}

// Assign returns the owner of each of n partitions among members,
// sorted, as every replica of a Cluster computes it.
func Assign(members []string, n int) []string { return assign(members, n) }
