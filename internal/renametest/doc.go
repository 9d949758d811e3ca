// Package renametest rewrites a corpus written in Kagenti's names into another
// family's, as upstream's rename did (kagenti/kagenti#2230): the API group, the label and
// annotation domain, the enabled-namespace label, the family-named ConfigMaps and
// Secrets, the platform namespace. Tests render a corpus and its rewrite under the
// matching platforms and expect the same agents, objects and decisions.
//
// It is test support and must not be imported outside tests.
package renametest
