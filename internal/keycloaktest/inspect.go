package keycloaktest

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/Nerzal/gocloak/v13"
)

// Client returns a client as the admin API would (with its secret and the names of its
// default client scopes), looked up by clientId.
func (s *Server) Client(realm, clientID string) (*gocloak.Client, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rlm := s.realms[realm]
	if rlm == nil {
		return nil, false
	}
	c := rlm.clientByClientID(clientID)
	if c == nil {
		return nil, false
	}
	out := &gocloak.Client{}
	convert(rlm.clientView(c), out)
	return out, true
}

// EditClient changes a client behind the back of whoever registered it, as an admin in
// the console would: edit sees the client as the admin API returns it, and what it
// leaves set is stored.
func (s *Server) EditClient(realm, clientID string, edit func(*gocloak.Client)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rlm := s.realms[realm]
	if rlm == nil {
		return fmt.Errorf("no realm %s", realm)
	}
	c := rlm.clientByClientID(clientID)
	if c == nil {
		return fmt.Errorf("no client %s in realm %s", clientID, realm)
	}
	rep := &gocloak.Client{}
	convert(rlm.clientView(c), rep)
	edit(rep)
	rep.ID = gocloak.StringP(str(c.rep, "id"))
	rep.DefaultClientScopes = nil
	next := map[string]any{}
	convert(rep, &next)
	c.rep = next
	return nil
}

// Clients lists a realm's client IDs, sorted.
func (s *Server) Clients(realm string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if rlm := s.realms[realm]; rlm != nil {
		for _, c := range rlm.clients {
			out = append(out, str(c.rep, "clientId"))
		}
	}
	sort.Strings(out)
	return out
}

// ClientScope returns a client scope with its protocol mappers, by name.
func (s *Server) ClientScope(realm, name string) (*gocloak.ClientScope, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rlm := s.realms[realm]
	if rlm == nil {
		return nil, false
	}
	sc := rlm.scopeByName(name)
	if sc == nil {
		return nil, false
	}
	out := &gocloak.ClientScope{}
	convert(sc.view(), out)
	return out, true
}

// ClientScopes lists a realm's client scope names, sorted.
func (s *Server) ClientScopes(realm string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if rlm := s.realms[realm]; rlm != nil {
		for _, sc := range rlm.scopes {
			out = append(out, str(sc.rep, "name"))
		}
	}
	sort.Strings(out)
	return out
}

// DefaultDefaultScopes lists the names of the realm's default default client scopes.
func (s *Server) DefaultDefaultScopes(realm string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if rlm := s.realms[realm]; rlm != nil {
		for _, ref := range rlm.scopeRefs(rlm.defaultDefault) {
			out = append(out, str(ref, "name"))
		}
	}
	return out
}

func convert(in, out any) {
	data, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		panic(err)
	}
}
