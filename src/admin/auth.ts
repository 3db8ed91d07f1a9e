// Bearer-token check for the admin API. Compares digests so the time taken never depends
// on how much of a guessed token was right (or on its length).
import { createHash, timingSafeEqual } from 'node:crypto';
import { SwitchyardError } from '../errors.js';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

export function bearerChecker(token: string): (authorization: string | undefined) => void {
  const expected = digest(token);
  return (authorization) => {
    const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match === null || !timingSafeEqual(digest(match[1]!), expected)) {
      throw new SwitchyardError('UNAUTHORIZED');
    }
  };
}

/** A short, non-secret id for a token, for audit lines ("who"). */
export function tokenId(token: string): string {
  return `token:${digest(token).toString('hex').slice(0, 8)}`;
}
