package keycloaktest

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The handlers run with s.mu held (see adminAPI).

func (s *Server) createClient(w http.ResponseWriter, r *http.Request, rlm *realm) {
	rep, ok := decodeObject(w, r)
	if !ok {
		return
	}
	clientID := str(rep, "clientId")
	if clientID == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errorMessage": "Client id is required"})
		return
	}
	if rlm.clientByClientID(clientID) != nil {
		writeJSON(w, http.StatusConflict, map[string]string{"errorMessage": "Client " + clientID + " already exists"})
		return
	}
	id := str(rep, "id")
	if id == "" {
		id = newID()
	}
	// Keycloak's defaults for a client created through the admin API.
	for k, v := range map[string]any{
		"enabled": true, "protocol": "openid-connect", "publicClient": false, "bearerOnly": false,
		"standardFlowEnabled": true, "implicitFlowEnabled": false, "directAccessGrantsEnabled": false,
		"serviceAccountsEnabled": false, "fullScopeAllowed": true, "consentRequired": false,
		"clientAuthenticatorType": "client-secret", "attributes": map[string]any{},
		"redirectUris": []any{}, "webOrigins": []any{},
	} {
		if _, set := rep[k]; !set {
			rep[k] = v
		}
	}
	rep["id"] = id
	if str(rep, "secret") == "" && !boolean(rep, "publicClient") {
		rep["secret"] = newSecret(32)
	}
	c := &client{rep: rep, serviceAccount: newID()}
	if names, given := rep["defaultClientScopes"].([]any); given {
		for _, n := range names {
			if sc := rlm.scopeByName(toString(n)); sc != nil {
				c.defaultScopes = append(c.defaultScopes, str(sc.rep, "id"))
			}
		}
	} else {
		c.defaultScopes = slices.Clone(rlm.defaultDefault)
	}
	delete(rep, "defaultClientScopes")
	rlm.clients[id] = c
	w.Header().Set("Location", s.URL+"/admin/realms/"+rlm.name+"/clients/"+id)
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) listClients(w http.ResponseWriter, r *http.Request, rlm *realm) {
	q := r.URL.Query()
	want, search := q.Get("clientId"), q.Get("search") == "true"
	var out []map[string]any
	for _, c := range rlm.clients {
		id := str(c.rep, "clientId")
		switch {
		case want == "":
		case search && strings.Contains(strings.ToLower(id), strings.ToLower(want)):
		case !search && id == want:
		default:
			continue
		}
		out = append(out, rlm.clientView(c))
	}
	sort.Slice(out, func(i, j int) bool { return str(out[i], "clientId") < str(out[j], "clientId") })
	first, _ := strconv.Atoi(q.Get("first"))
	if first > len(out) {
		first = len(out)
	}
	out = out[first:]
	if max, err := strconv.Atoi(q.Get("max")); err == nil && max >= 0 && max < len(out) {
		out = out[:max]
	}
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getClient(w http.ResponseWriter, r *http.Request, rlm *realm) {
	if c := clientOr404(w, r, rlm); c != nil {
		writeJSON(w, http.StatusOK, rlm.clientView(c))
	}
}

// updateClient applies the fields the representation carries, as Keycloak does: absent
// fields stay, attributes are merged key by key.
func (s *Server) updateClient(w http.ResponseWriter, r *http.Request, rlm *realm) {
	c := clientOr404(w, r, rlm)
	if c == nil {
		return
	}
	rep, ok := decodeObject(w, r)
	if !ok {
		return
	}
	if id := str(rep, "clientId"); id != "" && id != str(c.rep, "clientId") && rlm.clientByClientID(id) != nil {
		writeJSON(w, http.StatusConflict, map[string]string{"errorMessage": "Client " + id + " already exists"})
		return
	}
	for k, v := range rep {
		switch k {
		case "id":
		case "defaultClientScopes", "optionalClientScopes":
			// Keycloak ignores these on update; scopes are linked through their own endpoints.
		case "attributes":
			attrs, _ := c.rep["attributes"].(map[string]any)
			if attrs == nil {
				attrs = map[string]any{}
			}
			if m, ok := v.(map[string]any); ok {
				for ak, av := range m {
					if av == nil {
						delete(attrs, ak)
					} else {
						attrs[ak] = av
					}
				}
			}
			c.rep["attributes"] = attrs
		default:
			if v != nil {
				c.rep[k] = v
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteClient(w http.ResponseWriter, r *http.Request, rlm *realm) {
	if c := clientOr404(w, r, rlm); c != nil {
		delete(rlm.clients, str(c.rep, "id"))
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) getSecret(w http.ResponseWriter, r *http.Request, rlm *realm) {
	if c := clientOr404(w, r, rlm); c != nil {
		writeJSON(w, http.StatusOK, map[string]any{"type": "secret", "value": str(c.rep, "secret")})
	}
}

func (s *Server) regenerateSecret(w http.ResponseWriter, r *http.Request, rlm *realm) {
	if c := clientOr404(w, r, rlm); c != nil {
		c.rep["secret"] = newSecret(32)
		writeJSON(w, http.StatusOK, map[string]any{"type": "secret", "value": str(c.rep, "secret")})
	}
}

func (s *Server) clientScopes(w http.ResponseWriter, r *http.Request, rlm *realm) {
	if c := clientOr404(w, r, rlm); c != nil {
		writeJSON(w, http.StatusOK, rlm.scopeRefs(c.defaultScopes))
	}
}

func (s *Server) addClientScope(w http.ResponseWriter, r *http.Request, rlm *realm) {
	c := clientOr404(w, r, rlm)
	if c == nil {
		return
	}
	sc := scopeOr404(w, r, rlm)
	if sc == nil {
		return
	}
	if id := str(sc.rep, "id"); !slices.Contains(c.defaultScopes, id) {
		c.defaultScopes = append(c.defaultScopes, id)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) removeClientScope(w http.ResponseWriter, r *http.Request, rlm *realm) {
	c := clientOr404(w, r, rlm)
	if c == nil {
		return
	}
	sc := scopeOr404(w, r, rlm)
	if sc == nil {
		return
	}
	c.defaultScopes = slices.DeleteFunc(c.defaultScopes, func(id string) bool { return id == str(sc.rep, "id") })
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createScope(w http.ResponseWriter, r *http.Request, rlm *realm) {
	rep, ok := decodeObject(w, r)
	if !ok {
		return
	}
	name := str(rep, "name")
	if name == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errorMessage": "Client scope name is required"})
		return
	}
	if rlm.scopeByName(name) != nil {
		writeJSON(w, http.StatusConflict, map[string]string{"errorMessage": "Client Scope " + name + " already exists"})
		return
	}
	id := newID()
	rep["id"] = id
	if str(rep, "protocol") == "" {
		rep["protocol"] = "openid-connect"
	}
	sc := &scope{rep: rep}
	if mappers, ok := rep["protocolMappers"].([]any); ok {
		for _, m := range mappers {
			if mm, ok := m.(map[string]any); ok {
				mm["id"] = newID()
				sc.mappers = append(sc.mappers, mm)
			}
		}
	}
	delete(rep, "protocolMappers")
	rlm.scopes[id] = sc
	w.Header().Set("Location", s.URL+"/admin/realms/"+rlm.name+"/client-scopes/"+id)
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) listScopes(w http.ResponseWriter, r *http.Request, rlm *realm) {
	out := []map[string]any{}
	for _, sc := range rlm.scopes {
		out = append(out, sc.view())
	}
	sort.Slice(out, func(i, j int) bool { return str(out[i], "name") < str(out[j], "name") })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getScope(w http.ResponseWriter, r *http.Request, rlm *realm) {
	if sc := scopeOr404(w, r, rlm); sc != nil {
		writeJSON(w, http.StatusOK, sc.view())
	}
}

func (s *Server) updateScope(w http.ResponseWriter, r *http.Request, rlm *realm) {
	sc := scopeOr404(w, r, rlm)
	if sc == nil {
		return
	}
	rep, ok := decodeObject(w, r)
	if !ok {
		return
	}
	for k, v := range rep {
		if k != "id" && k != "protocolMappers" && v != nil {
			sc.rep[k] = v
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// deleteScope unlinks the scope from the realm defaults and every client, as current
// Keycloak versions do.
func (s *Server) deleteScope(w http.ResponseWriter, r *http.Request, rlm *realm) {
	sc := scopeOr404(w, r, rlm)
	if sc == nil {
		return
	}
	id := str(sc.rep, "id")
	delete(rlm.scopes, id)
	drop := func(ids []string) []string { return slices.DeleteFunc(ids, func(x string) bool { return x == id }) }
	rlm.defaultDefault = drop(rlm.defaultDefault)
	for _, c := range rlm.clients {
		c.defaultScopes = drop(c.defaultScopes)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createMapper(w http.ResponseWriter, r *http.Request, rlm *realm) {
	sc := scopeOr404(w, r, rlm)
	if sc == nil {
		return
	}
	rep, ok := decodeObject(w, r)
	if !ok {
		return
	}
	for _, m := range sc.mappers {
		if str(m, "name") == str(rep, "name") {
			writeJSON(w, http.StatusConflict, map[string]string{"errorMessage": "Protocol mapper exists with same name"})
			return
		}
	}
	id := newID()
	rep["id"] = id
	sc.mappers = append(sc.mappers, rep)
	w.Header().Set("Location", s.URL+"/admin/realms/"+rlm.name+"/client-scopes/"+str(sc.rep, "id")+"/protocol-mappers/models/"+id)
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) listMappers(w http.ResponseWriter, r *http.Request, rlm *realm) {
	if sc := scopeOr404(w, r, rlm); sc != nil {
		out := []map[string]any{}
		out = append(out, sc.mappers...)
		writeJSON(w, http.StatusOK, out)
	}
}

func (s *Server) getMapper(w http.ResponseWriter, r *http.Request, rlm *realm) {
	if _, i := mapperOr404(w, r, rlm); i >= 0 {
		sc := rlm.scopes[r.PathValue("scope")]
		writeJSON(w, http.StatusOK, sc.mappers[i])
	}
}

func (s *Server) updateMapper(w http.ResponseWriter, r *http.Request, rlm *realm) {
	sc, i := mapperOr404(w, r, rlm)
	if i < 0 {
		return
	}
	rep, ok := decodeObject(w, r)
	if !ok {
		return
	}
	rep["id"] = str(sc.mappers[i], "id")
	sc.mappers[i] = rep
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteMapper(w http.ResponseWriter, r *http.Request, rlm *realm) {
	sc, i := mapperOr404(w, r, rlm)
	if i < 0 {
		return
	}
	sc.mappers = slices.Delete(sc.mappers, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) defaultDefaults(w http.ResponseWriter, r *http.Request, rlm *realm) {
	writeJSON(w, http.StatusOK, rlm.scopeRefs(rlm.defaultDefault))
}

func (s *Server) addDefaultDefault(w http.ResponseWriter, r *http.Request, rlm *realm) {
	if sc := scopeOr404(w, r, rlm); sc != nil {
		if id := str(sc.rep, "id"); !slices.Contains(rlm.defaultDefault, id) {
			rlm.defaultDefault = append(rlm.defaultDefault, id)
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) removeDefaultDefault(w http.ResponseWriter, r *http.Request, rlm *realm) {
	if sc := scopeOr404(w, r, rlm); sc != nil {
		id := str(sc.rep, "id")
		rlm.defaultDefault = slices.DeleteFunc(rlm.defaultDefault, func(x string) bool { return x == id })
		w.WriteHeader(http.StatusNoContent)
	}
}

// --- realm lookups (s.mu held) ---

func (rlm *realm) clientByClientID(clientID string) *client {
	for _, c := range rlm.clients {
		if str(c.rep, "clientId") == clientID {
			return c
		}
	}
	return nil
}

func (rlm *realm) scopeByName(name string) *scope {
	for _, sc := range rlm.scopes {
		if str(sc.rep, "name") == name {
			return sc
		}
	}
	return nil
}

// clientView is the representation GET returns: the stored fields and the names of the
// default client scopes.
func (rlm *realm) clientView(c *client) map[string]any {
	out := deepCopy(c.rep)
	names := []any{}
	for _, id := range c.defaultScopes {
		if sc := rlm.scopes[id]; sc != nil {
			names = append(names, str(sc.rep, "name"))
		}
	}
	out["defaultClientScopes"] = names
	return out
}

func (rlm *realm) scopeRefs(ids []string) []map[string]any {
	out := []map[string]any{}
	for _, id := range ids {
		if sc := rlm.scopes[id]; sc != nil {
			out = append(out, map[string]any{"id": id, "name": str(sc.rep, "name")})
		}
	}
	return out
}

func (sc *scope) view() map[string]any {
	out := deepCopy(sc.rep)
	mappers := []any{}
	for _, m := range sc.mappers {
		mappers = append(mappers, deepCopy(m))
	}
	out["protocolMappers"] = mappers
	return out
}

func clientOr404(w http.ResponseWriter, r *http.Request, rlm *realm) *client {
	c := rlm.clients[r.PathValue("id")]
	if c == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Could not find client"})
	}
	return c
}

func scopeOr404(w http.ResponseWriter, r *http.Request, rlm *realm) *scope {
	sc := rlm.scopes[r.PathValue("scope")]
	if sc == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Could not find client scope"})
	}
	return sc
}

func mapperOr404(w http.ResponseWriter, r *http.Request, rlm *realm) (*scope, int) {
	sc := scopeOr404(w, r, rlm)
	if sc == nil {
		return nil, -1
	}
	for i, m := range sc.mappers {
		if str(m, "id") == r.PathValue("mapper") {
			return sc, i
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "Model not found"})
	return nil, -1
}

func decodeObject(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	var rep map[string]any
	if err := json.NewDecoder(r.Body).Decode(&rep); err != nil || rep == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unable to read contents from stream"})
		return nil, false
	}
	return rep, true
}

func str(m map[string]any, key string) string { return toString(m[key]) }

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func boolean(m map[string]any, key string) bool {
	b, _ := m[key].(bool)
	return b
}

func attribute(m map[string]any, key string) string {
	attrs, _ := m["attributes"].(map[string]any)
	return toString(attrs[key])
}

func deepCopy(m map[string]any) map[string]any {
	data, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return out
}
