// Package memrelease returns a burst's memory to the operating system once the process
// goes quiet. After a large render the Go runtime keeps the burst's heap goal until its
// next collection, and the scavenger keeps what is under that goal: a controller that
// rendered 1,000 agents once holds that peak for the two minutes until the runtime's
// forced collection, and then still twice its live heap. Releasing when quiet costs one
// collection per burst and none while the process is busy or small.
package memrelease
