// Command ps-scaling is benchmark PS: how cost grows with the work. It measures P1's
// no-op apply, P3's render and P7's controller memory at 100, 1,000 and 5,000 agents
// (about 100 agents to a namespace, as teams lay repositories out) and prints, for
// each, the exponent of cost against agents: the slope of log(cost) on log(agents) by
// least squares; 1 is linear. P7's cost is the memory the agents add to the idle
// controller.
package main
