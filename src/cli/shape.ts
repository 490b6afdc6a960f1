/** A shape the way numpy prints a tuple: `()`, `(6,)`, `(2, 6)`. (Imports nothing: the static viewer bundles it.) */
export function formatShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}
