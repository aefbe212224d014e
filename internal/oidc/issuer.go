package oidc

// Issuer is the identity provider's issuer URL: who vouches for the users
// its tokens name (session.Federation).
func (v *Verifier) Issuer() string { return v.cfg.Issuer }
