// Package charttest holds no code: its tests prove the Helm chart in charts/trustsync
// with a real helm binary — it lints, it renders for each value set what the values ask
// for, it renders for default values and each component switch exactly what config/
// (and so `trustsync install`) does, and the API server accepts what it renders.
package charttest
