"""Events to the integrator: signing, the URL guard, the dispatcher and the live stream."""
