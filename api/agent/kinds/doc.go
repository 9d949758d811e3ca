// Package kinds gives the Go object of a kind in a family's API group, and the Kagenti
// type it is, so that controllers and clients keep one code path on the Kagenti Go
// types with the family as a value. The Rossoctl types are defined types of the Kagenti
// ones, so a conversion is a pointer conversion: the object is shared, not copied.
//
// It must not import anything from trustsync outside api/.
package kinds
