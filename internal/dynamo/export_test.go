package dynamo

// SetCountPage makes CountLive read n index entries per request, so that a
// test can cross page boundaries with a handful of sessions.
func SetCountPage(s *Sessions, n int32) { s.countPage = n }
