// What an unknown key was probably meant to be: the keys the schema allows at that place.
import type { TSchema } from '@sinclair/typebox';
import type { PathSegment } from './key-path.js';
import { didYouMean } from './suggest.js';

/**
 * The schema that describes the value at `path`, or undefined where the schema has no
 * single answer (a union, or a path leaving it). Record entries (`pools.<name>`) and array
 * items follow their item schema.
 */
export function schemaAt(schema: TSchema, path: readonly PathSegment[]): TSchema | undefined {
  let node: TSchema | undefined = schema;
  for (const segment of path) {
    if (node === undefined) return undefined;
    if (node.type === 'array') {
      node = typeof segment === 'number' ? (node.items as TSchema) : undefined;
    } else if (node.type === 'object') {
      const properties = (node.properties ?? {}) as Record<string, TSchema>;
      const key = String(segment);
      node = Object.hasOwn(properties, key)
        ? properties[key]
        : Object.values((node.patternProperties ?? {}) as Record<string, TSchema>)[0];
    } else {
      return undefined;
    }
  }
  return node;
}

/** The message for an unknown key at `path`: `unknown key`, with the closest known sibling when one is close. */
export function unknownKeyMessage(schema: TSchema, path: readonly PathSegment[]): string {
  const name = path.at(-1);
  const parent = schemaAt(schema, path.slice(0, -1));
  const known = parent?.type === 'object' ? Object.keys((parent.properties ?? {}) as Record<string, TSchema>) : [];
  return typeof name === 'string' ? `unknown key${didYouMean(name, known)}` : 'unknown key';
}
