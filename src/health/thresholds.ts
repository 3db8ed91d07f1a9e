// Rise/fall counting for one target (HAProxy's rise/fall, Envoy's thresholds). Pure.
// The first result decides at once (a target is not kept out of service for
// `healthyThreshold` intervals at start); after that, it takes `healthyThreshold`
// consecutive passes to become healthy and `unhealthyThreshold` failures to become unhealthy.

export type Transition = 'unchanged' | 'changed';

export class Thresholds {
  healthy: boolean | null = null;
  private passes = 0;
  private failures = 0;

  constructor(private healthyThreshold: number, private unhealthyThreshold: number) {}

  configure(healthyThreshold: number, unhealthyThreshold: number): void {
    this.healthyThreshold = healthyThreshold;
    this.unhealthyThreshold = unhealthyThreshold;
  }

  observe(ok: boolean): Transition {
    if (ok) {
      this.passes++;
      this.failures = 0;
    } else {
      this.failures++;
      this.passes = 0;
    }
    const before = this.healthy;
    if (before === null) this.healthy = ok;
    else if (!before && this.passes >= this.healthyThreshold) this.healthy = true;
    else if (before && this.failures >= this.unhealthyThreshold) this.healthy = false;
    return before === this.healthy ? 'unchanged' : 'changed';
  }
}
