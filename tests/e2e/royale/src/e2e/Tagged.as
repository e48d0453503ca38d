package e2e
{
    /** A dynamic class registered as "e2e.Tagged": sealed "kind", the rest dynamic. */
    public dynamic class Tagged
    {
        public var kind:String;

        public function Tagged(kind:String = null)
        {
            this.kind = kind;
        }
    }
}
