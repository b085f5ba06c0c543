// Package models holds hookflow's domain types, their validation and the sentinel
// errors every other package speaks. It imports only the standard library so that
// workflows, activities, the API and the store all agree on one vocabulary without
// depending on each other.
package models
