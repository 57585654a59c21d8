-- Customers, products, orders and order lines: the Aurora part of the support data set.
-- Applied by `agent migrate` through the RDS Data API, one statement at a time: each
-- statement ends with a semicolon at the end of a line, and none contains one elsewhere.

CREATE TABLE customers (
    customer_id text PRIMARY KEY CHECK (customer_id ~ '^[A-Za-z0-9._-]{1,64}$'),
    username    text NOT NULL UNIQUE,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    email       text NOT NULL UNIQUE,
    phone       text,
    tier        text NOT NULL CHECK (tier IN ('standard', 'premium')),
    city        text,
    country     text,
    created_at  timestamptz NOT NULL
);

CREATE TABLE products (
    product_id      text PRIMARY KEY CHECK (product_id ~ '^[A-Za-z0-9._-]{1,64}$'),
    sku             text NOT NULL UNIQUE,
    name            text NOT NULL,
    description     text NOT NULL,
    category        text NOT NULL,
    price           numeric(10, 2) NOT NULL CHECK (price >= 0),
    stock           integer NOT NULL CHECK (stock >= 0),
    warranty_months integer NOT NULL CHECK (warranty_months >= 0)
);

CREATE INDEX products_category ON products (category, name);

CREATE TABLE orders (
    order_id        text PRIMARY KEY CHECK (order_id ~ '^[A-Za-z0-9._-]{1,64}$'),
    customer_id     text NOT NULL REFERENCES customers (customer_id),
    status          text NOT NULL CHECK (status IN ('pending', 'processing', 'shipped', 'delivered', 'cancelled', 'returned')),
    placed_at       timestamptz NOT NULL,
    carrier         text,
    tracking_number text,
    total_amount    numeric(12, 2) NOT NULL CHECK (total_amount >= 0)
);

-- A customer's orders, newest first, are read page by page on (placed_at, order_id).
CREATE INDEX orders_by_customer ON orders (customer_id, placed_at DESC, order_id DESC);

CREATE TABLE order_lines (
    order_id    text NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    line_number integer NOT NULL CHECK (line_number > 0),
    product_id  text NOT NULL REFERENCES products (product_id),
    quantity    integer NOT NULL CHECK (quantity > 0),
    unit_price  numeric(10, 2) NOT NULL CHECK (unit_price >= 0),
    PRIMARY KEY (order_id, line_number)
);
