// The ordered map kv uses (sorted-btree). The package is CommonJS with `exports.default`, so under
// Node's ESM loader the class sits one level down; this module hides that once.

import * as sortedBtree from 'sorted-btree';

export const BTree = sortedBtree.default.default ?? sortedBtree.default;
export type BTree<K, V> = sortedBtree.default<K, V>;
