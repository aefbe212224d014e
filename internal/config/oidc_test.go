package config_test

import (
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/config"
)

func TestNoIssuerIsFederationOff(t *testing.T) {
	c, err := config.Parse(env(map[string]string{config.EnvOIDCIssuer: " "}))
	if err != nil || c.OIDC.Issuer != "" {
		t.Errorf("OIDC = %+v, err %v; want no issuer", c.OIDC, err)
	}
}

func TestFederationSettingsAreRead(t *testing.T) {
	c, err := config.Parse(env(map[string]string{
		config.EnvOIDCIssuer: "https://login.example.com/oauth2/default", config.EnvOIDCAudience: "api://vsphere",
		config.EnvOIDCUserClaim: "upn", config.EnvOIDCRequiredGroup: "vsphere-admins", config.EnvOIDCGroupsClaim: "roles",
	}))
	want := config.OIDC{Issuer: "https://login.example.com/oauth2/default", Audience: "api://vsphere",
		UserClaim: "upn", RequiredGroup: "vsphere-admins", GroupsClaim: "roles", ClientID: "api://vsphere"}
	if err != nil || c.OIDC != want {
		t.Errorf("OIDC = %+v, err %v; want %+v", c.OIDC, err, want)
	}
}

func TestTheLogoutClientIDIsTheAudienceUnlessSet(t *testing.T) {
	base := map[string]string{config.EnvOIDCIssuer: "https://idp.example.com", config.EnvOIDCAudience: "api://vsphere"}
	c, err := config.Parse(env(base))
	if err != nil || c.OIDC.ClientID != "api://vsphere" {
		t.Errorf("without %s: ClientID %q, err %v; want the audience", config.EnvOIDCClientID, c.OIDC.ClientID, err)
	}
	base[config.EnvOIDCClientID] = "cis-session-rp"
	c, err = config.Parse(env(base))
	if err != nil || c.OIDC.ClientID != "cis-session-rp" {
		t.Errorf("with %s: ClientID %q, err %v; want cis-session-rp", config.EnvOIDCClientID, c.OIDC.ClientID, err)
	}
}

func TestAnHTTPIssuerIsAllowedOnLoopbackOnly(t *testing.T) {
	for v, ok := range map[string]bool{
		"http://127.0.0.1:5556":       true,
		"http://127.9.9.9/realms/x":   true,
		"http://[::1]:5556":           true,
		"http://localhost:5556":       true,
		"https://idp.example.com":     true,
		"http://idp.example.com":      false,
		"http://10.0.0.1:5556":        false,
		"http://127.0.0.1.nip.io":     false,
		"ftp://idp.example.com":       false,
		"idp.example.com":             false,
		"https://idp.example.com/?x":  false,
		"https://u:p@idp.example.com": false,
		"https://idp.example.com/#f":  false,
	} {
		_, err := config.Parse(env(map[string]string{config.EnvOIDCIssuer: v, config.EnvOIDCAudience: "a"}))
		if ok && err != nil || !ok && (err == nil || !strings.Contains(err.Error(), config.EnvOIDCIssuer)) {
			t.Errorf("%s=%q: err = %v; want ok = %v, an error naming the variable", config.EnvOIDCIssuer, v, err, ok)
		}
	}
}

func TestAnIssuerWithoutAnAudienceStopsStartUp(t *testing.T) {
	_, err := config.Parse(env(map[string]string{config.EnvOIDCIssuer: "https://idp.example.com"}))
	if err == nil || !strings.Contains(err.Error(), config.EnvOIDCAudience) {
		t.Errorf("err = %v; want one naming %s", err, config.EnvOIDCAudience)
	}
}
