/** A failed delivery: permanent ones (4xx, unknown user, bad config) are not retried. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly permanent = false,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

