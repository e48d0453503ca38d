package e2e
{
    /** A class without an alias: it travels as an anonymous object. */
    public class Plain
    {
        public var label:String;

        public function Plain(label:String = null)
        {
            this.label = label;
        }
    }
}
