import { Type, type Static } from 'typebox';
import { NextCursor } from '../pagination.js';

export const priceMax = 1_000_000_000;
export const stockMax = 1_000_000_000;

const Name = Type.String({ minLength: 1, maxLength: 200 });
const Price = Type.Integer({ minimum: 0, maximum: priceMax, description: 'won' });
const Stock = Type.Integer({ minimum: 0, maximum: stockMax });

export const Product = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  price: Type.Integer(),
  stock: Type.Integer(),
});
export type Product = Static<typeof Product>;

export const ProductBody = Type.Object({ product: Product });
export const ProductList = Type.Object({ products: Type.Array(Product), nextCursor: NextCursor });

export const CreateProduct = Type.Object({ name: Name, price: Price, stock: Stock }, { additionalProperties: false });
export type CreateProduct = Static<typeof CreateProduct>;

export const PatchProduct = Type.Object(
  { name: Type.Optional(Name), price: Type.Optional(Price), stock: Type.Optional(Stock) },
  { additionalProperties: false, minProperties: 1 },
);
export type PatchProduct = Static<typeof PatchProduct>;

/** How many products the popular list holds at most. */
export const popularCountMax = 5;

export const PopularProduct = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  price: Type.Integer(),
  stock: Type.Integer(),
  soldQuantity: Type.Integer({ description: 'units sold in success orders paid in the last 72 hours' }),
});
export type PopularProduct = Static<typeof PopularProduct>;
export const PopularList = Type.Object({ products: Type.Array(PopularProduct, { maxItems: popularCountMax }) });
